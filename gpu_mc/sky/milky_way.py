"""Milky Way foreground: thin disc, thick disc and halo stars along the lines of sight of a cone.

Densities follow Jurić et al. 2008 (ApJ 673, 864) with the parameters of
:class:`~gpu_mc.constants.GalaxyParams`. Stars are drawn from one table over
(direction cell × distance bin × component × sub-population) whose weights are
ρ(r) · d² Δd · Φ(M_lim(d)), where Φ is the part of the sub-population's luminosity function
bright enough to pass G ≤ g_limit at that distance. Absolute magnitudes are then drawn from
the luminosity function truncated at each star's own limit. Velocities combine Galactic
rotation with asymmetric drift, the dispersions (σ_R, σ_φ, σ_z) and the solar motion, and are
brought to heliocentric ICRS with the same convention as astropy's ``Galactocentric`` frame
(x towards the Galactic centre, the Sun at height z_sun, ``roll = 0``).

Sub-populations of each component: 0 dwarfs (main sequence), 1 giants (subgiant and red
giant branch), 2 red clump (horizontal branch for the halo).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.constants import ICRS_TO_GALACTIC, GalaxyParams
from gpu_mc.sky.drawn import drawn_stars
from gpu_mc.sky.geometry import Vec, apply_matrix, cone_directions, to_radec
from gpu_mc.sky.photometry import REDDENING_RATIO, giant_branch_colour, main_sequence_colour

#: G-band extinction of every foreground star, mag (our assumption: E(B − V) ≈ 0.04 of dust
#: lying mostly within a few hundred pc at |b| ≈ 33°–44°, A_G ≈ 2.7 E(B − V)).
MW_EXTINCTION_G = 0.1

#: Core radius softening the halo power law at the Galactic centre, kpc (our assumption; the
#: Clouds' lines of sight pass far from it).
HALO_CORE = 0.5

#: Direction cells: equal-area rings × azimuth sectors in the cone (our assumption).
N_RINGS, N_SECTORS = 16, 32

#: Distance bin edges, kpc: log-spaced from 5 pc to 300 kpc.
DISTANCE_EDGES = np.geomspace(0.005, 300.0, 321)

#: Absolute-magnitude grid of the luminosity functions, mag.
ABS_G_GRID = np.linspace(-6.0, 17.0, 2301)

#: Thin-disc main-sequence luminosity function, log10 dN/dM_G (relative), our assumption
#: shaped after the local luminosity function of Jurić et al. 2008 (their Fig. 23).
THIN_DWARF_LF = (
    np.array([-5.0, -3.0, -1.0, 1.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0]),
    np.array([-5.5, -4.5, -3.4, -2.5, -1.9, -1.7, -1.55, -1.45, -1.2, -1.0, -0.95, -1.15, -1.6]),
)

#: Main-sequence turn-off of the old populations, M_G (thin disc: none; thick disc and halo
#: our assumption for ages ≳ 10 Gyr at [Fe/H] ≈ −0.6 and −1.5).
TURN_OFF = (None, 3.5, 3.9)

#: Giants per dwarf with 4 ≤ M_G ≤ 16, and their branch dN/dM ∝ 10**(0.3 M) from the tip at
#: M_G = −3.5 to the subgiants (our assumption).
GIANT_FRACTION = (0.004, 0.012, 0.015)
GIANT_SLOPE, GIANT_TIP, GIANT_FAINT = 0.3, -3.5, (3.0, 3.3, 3.6)

#: Red clump (thin, thick disc) or horizontal branch (halo): per dwarf, mean and σ of M_G.
CLUMP_FRACTION = (0.002, 0.003, 0.004)
CLUMP_ABS_G = ((0.45, 0.15), (0.45, 0.15), (0.6, 0.2))

#: Colours: main-sequence shift bluewards for metal-poorer dwarfs, giant-branch base colour,
#: clump/HB colour and its σ (BP − RP, mag; our assumption).
DWARF_COLOUR_SHIFT = (0.0, 0.08, 0.18)
GIANT_BASE_COLOUR = (1.05, 0.98, 0.9)
CLUMP_COLOUR = ((1.2, 0.05), (1.1, 0.05), (0.25, 0.15))
COLOUR_SCATTER = 0.04

N_COMPONENTS, N_SUBPOPS = 3, 3


def _log_lf(table: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    m, logphi = table
    inside = (ABS_G_GRID >= m[0]) & (ABS_G_GRID <= m[-1])
    return np.where(inside, 10.0 ** np.interp(ABS_G_GRID, m, logphi), 0.0)


def luminosity_functions() -> np.ndarray:
    """dN/dM_G of every (component, sub-population) on :data:`ABS_G_GRID`.

    Dwarfs of each component integrate to 1 over 4 ≤ M_G ≤ 16, so the component densities
    of Jurić et al. 2008 (normalised there on such stars) set the relative numbers.

    Returns
    -------
    numpy.ndarray, shape (3, 3, len(ABS_G_GRID))
        Stars per mag, indexed [component, sub-population, magnitude].
    """
    m = ABS_G_GRID
    dm = m[1] - m[0]
    lf = np.zeros((N_COMPONENTS, N_SUBPOPS, m.size))
    thin_m, thin_log = THIN_DWARF_LF
    for c in range(N_COMPONENTS):
        if TURN_OFF[c] is None:
            dwarfs = _log_lf(THIN_DWARF_LF)
        else:
            t = TURN_OFF[c]
            faint = thin_m > t + 0.3
            table = (
                np.concatenate([[t - 0.4, t], thin_m[faint]]),
                np.concatenate([[-4.0, -1.75], thin_log[faint]]),
            )
            dwarfs = _log_lf(table)
        dwarfs /= dwarfs[(m >= 4.0) & (m <= 16.0)].sum() * dm
        giants = np.where((m >= GIANT_TIP) & (m <= GIANT_FAINT[c]), 10.0 ** (GIANT_SLOPE * m), 0.0)
        giants *= GIANT_FRACTION[c] / (giants.sum() * dm)
        mu, sig = CLUMP_ABS_G[c]
        clump = np.exp(-0.5 * ((m - mu) / sig) ** 2)
        clump *= CLUMP_FRACTION[c] / (clump.sum() * dm)
        lf[c] = (dwarfs, giants, clump)
    return lf


def _tilt(galaxy: GalaxyParams) -> np.ndarray:
    """Rotation about y that lifts the Sun to height z_sun above the Galactic plane."""
    s = galaxy.z_sun / galaxy.r_sun
    c = np.sqrt(1.0 - s * s)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def galactocentric_matrix(galaxy: GalaxyParams) -> np.ndarray:
    """Rotation from ICRS to Galactocentric Cartesian axes (astropy convention, roll = 0).

    The Galactic rotation (x towards l = b = 0) followed by the tilt that puts the Sun at
    height z_sun above the plane.

    Returns
    -------
    numpy.ndarray, shape (3, 3)
    """
    return _tilt(galaxy) @ ICRS_TO_GALACTIC


def icrs_to_galactocentric(pos: Vec, galaxy: GalaxyParams) -> Vec:
    """Heliocentric ICRS position to Galactocentric Cartesian (x, y, z), kpc; shape (n,) each.

    r_gc = T (R r − R0 x̂), with R the ICRS → Galactic rotation and T the solar-height tilt;
    the Sun lands at (−R0 cos θ, 0, z_sun).
    """
    offset = galaxy.r_sun * _tilt(galaxy)[:, 0]
    rotated = apply_matrix(galactocentric_matrix(galaxy), pos)
    return tuple(rotated[k] - float(offset[k]) for k in range(3))


def solar_velocity(galaxy: GalaxyParams) -> np.ndarray:
    """Velocity of the Sun in the Galactocentric frame, km/s, shape (3,)."""
    return np.array([galaxy.u_sun, galaxy.v_circ + galaxy.v_sun, galaxy.w_sun])


def galactocentric_velocity_to_icrs(vel: Vec, galaxy: GalaxyParams) -> Vec:
    """Galactocentric velocity to heliocentric ICRS Cartesian velocity, km/s; shape (n,) each."""
    vsun = solar_velocity(galaxy)
    rel = tuple(vel[k] - float(vsun[k]) for k in range(3))
    return apply_matrix(galactocentric_matrix(galaxy).T, rel)


def density(x: Any, y: Any, z: Any, galaxy: GalaxyParams, xp: ModuleType = np) -> list[Any]:
    """Number densities of the thin disc, thick disc and halo (Jurić et al. 2008).

    Parameters
    ----------
    x, y, z : array, shape (n,)
        Galactocentric Cartesian position, kpc.
    galaxy : GalaxyParams
        Structural parameters; the thin disc at the Sun has density 1.
    xp : module
        Array namespace.

    Returns
    -------
    list of 3 arrays, shape (n,)
    """
    r = xp.sqrt(x * x + y * y)
    r0 = galaxy.r_sun
    thin = xp.exp(-(r - r0) / galaxy.thin_scale_length - xp.abs(z) / galaxy.thin_scale_height)
    thick = galaxy.thick_local_fraction * xp.exp(
        -(r - r0) / galaxy.thick_scale_length - xp.abs(z) / galaxy.thick_scale_height
    )
    q = galaxy.halo_flattening
    rh = xp.sqrt(r * r + (z / q) ** 2 + HALO_CORE**2)
    halo = galaxy.halo_local_fraction * (r0 / rh) ** galaxy.halo_power
    return [thin, thick, halo]


@dataclass(frozen=True)
class ForegroundField:
    """Sampling tables of the foreground in one cone (arrays on the namespace ``xp``).

    Attributes
    ----------
    ra0, dec0, radius : float
        Cone centre and radius, deg.
    g_limit : float
        Faint limit the tables were built for (with the G margin), mag.
    cdf : array, shape (N_RINGS * N_SECTORS * n_dist * 9,)
        Cumulative weights over (cell, distance bin, component, sub-population).
    lf_cdf : array, shape (9 * len(ABS_G_GRID),)
        Per-(component, sub-population) luminosity-function CDFs normalised to 1, flattened.
    lf_x : array, shape (9 * len(ABS_G_GRID),)
        ``2 k + lf_cdf`` for table k (strictly increasing), for joint inverse-CDF draws.
    lf_m : array, shape (9 * len(ABS_G_GRID),)
        ABS_G_GRID repeated per table.
    mirror : bool
        Reflect drawn stars through the Galactic x–z plane (see :func:`mirror_matrix`).
    """

    ra0: float
    dec0: float
    radius: float
    g_limit: float
    galaxy: GalaxyParams
    cdf: Any
    lf_cdf: Any
    lf_x: Any
    lf_m: Any
    mirror: bool = False


def mirror_matrix() -> np.ndarray:
    """Reflection l → 360° − l (Galactic y → −y) in ICRS Cartesian axes, shape (3, 3).

    Applied to positions, with velocities mapped by ``v → −M v`` (reflection with time
    reversal), it carries an axisymmetric, rotating Galaxy onto itself; only the Sun's
    peculiar motion (U, W) changes sign.
    """
    return ICRS_TO_GALACTIC.T @ np.diag([1.0, -1.0, 1.0]) @ ICRS_TO_GALACTIC


def _abs_limit(d_kpc: Any, g_limit: float, xp: ModuleType) -> Any:
    return g_limit - 5.0 * xp.log10(d_kpc * 100.0) - MW_EXTINCTION_G


def foreground_field(
    ra0: float,
    dec0: float,
    radius: float,
    g_limit: float,
    galaxy: GalaxyParams,
    xp: ModuleType = np,
    mirror: bool = False,
) -> ForegroundField:
    """Build the sampling tables of the foreground within a cone.

    Parameters
    ----------
    ra0, dec0, radius : float
        Cone centre and radius, deg.
    g_limit : float
        Faint limit of true apparent G, mag (include any margin for noise).
    galaxy : GalaxyParams
        Milky Way model.
    xp : module
        Array namespace for the tables.
    mirror : bool
        Reflect drawn stars by :func:`mirror_matrix` (see :class:`ForegroundField`).

    Returns
    -------
    ForegroundField
    """
    t_max = 1.0 - np.cos(np.deg2rad(radius))
    ring = (np.arange(N_RINGS) + 0.5) / N_RINGS * t_max
    sector = (np.arange(N_SECTORS) + 0.5) / N_SECTORS * 2.0 * np.pi
    t, psi = (a.ravel() for a in np.meshgrid(ring, sector, indexing="ij"))
    u = cone_directions(ra0, dec0, t, psi)
    lo, hi = DISTANCE_EDGES[:-1], DISTANCE_EDGES[1:]
    d_mid = np.sqrt(lo * hi)
    pos = tuple(u[k][:, None] * d_mid[None, :] for k in range(3))
    gx, gy, gz = icrs_to_galactocentric(pos, galaxy)
    rho = np.stack(density(gx, gy, gz, galaxy), axis=-1)  # (cell, dist, comp)
    volume = (hi**3 - lo**3) / 3.0

    lf = luminosity_functions().reshape(N_COMPONENTS * N_SUBPOPS, -1)
    dm = ABS_G_GRID[1] - ABS_G_GRID[0]
    cum = np.cumsum(lf, axis=1) * dm
    visible = np.stack([np.interp(_abs_limit(d_mid, g_limit, np), ABS_G_GRID, c) for c in cum])
    visible = visible.reshape(N_COMPONENTS, N_SUBPOPS, -1).transpose(2, 0, 1)  # (dist, c, s)
    weights = rho[:, :, :, None] * (volume[None, :, None, None] * visible[None])
    cdf = np.cumsum(weights.ravel())

    n_m = ABS_G_GRID.size
    ramp = np.arange(n_m) / n_m * 1e-9
    lf_cdf = (cum / cum[:, -1:] + ramp) / (1.0 + 1e-9)
    lf_x = lf_cdf + 2.0 * np.arange(lf_cdf.shape[0])[:, None]
    return ForegroundField(
        ra0=ra0,
        dec0=dec0,
        radius=radius,
        g_limit=g_limit,
        galaxy=galaxy,
        cdf=xp.asarray(cdf),
        lf_cdf=xp.asarray(lf_cdf.ravel()),
        lf_x=xp.asarray(lf_x.ravel()),
        lf_m=xp.asarray(np.tile(ABS_G_GRID, lf_cdf.shape[0])),
        mirror=mirror,
    )


def _pick(values: tuple, index: Any, xp: ModuleType) -> Any:
    """values[index] for a small host tuple of floats and an int array index."""
    return xp.asarray(np.asarray(values, dtype=float))[index]


def draw_milky_way(field: ForegroundField, n: int, rng: Any, xp: ModuleType = np) -> dict[str, Any]:
    """Draw foreground stars in the field's cone.

    Parameters
    ----------
    field : ForegroundField
        Tables from :func:`foreground_field` on namespace ``xp``.
    n : int
        Number of stars.
    rng : Generator
        Random generator of namespace ``xp``.
    xp : module
        Array namespace.

    Returns
    -------
    dict of arrays, shape (n,)
        Same keys as :func:`gpu_mc.sky.cloud.draw_cloud`; components 0 thin disc, 1 thick
        disc, 2 halo. Rows come ordered by sampling cell (direction, distance); callers
        shuffle them.
    """
    galaxy = field.galaxy
    n_dist = DISTANCE_EDGES.size - 1
    # Sorted deviates make the table search cache-friendly; rows are shuffled afterwards.
    idx = xp.searchsorted(field.cdf, xp.sort(rng.random(n)) * field.cdf[-1], side="right")
    idx = xp.minimum(idx, field.cdf.shape[0] - 1)
    table = idx % (N_COMPONENTS * N_SUBPOPS)
    comp = table // N_SUBPOPS
    sub = table % N_SUBPOPS
    rest = idx // (N_COMPONENTS * N_SUBPOPS)
    dbin = rest % n_dist
    cell = rest // n_dist

    t_max = 1.0 - np.cos(np.deg2rad(field.radius))
    t = t_max * ((cell // N_SECTORS) + rng.random(n)) / N_RINGS
    psi = 2.0 * np.pi * ((cell % N_SECTORS) + rng.random(n)) / N_SECTORS
    u = cone_directions(field.ra0, field.dec0, t, psi, xp)
    edges = xp.asarray(DISTANCE_EDGES)
    lo3 = edges[dbin] ** 3
    hi3 = edges[dbin + 1] ** 3
    dist = xp.cbrt(lo3 + rng.random(n) * (hi3 - lo3))
    pos = tuple(u[k] * dist for k in range(3))

    # Absolute magnitude from the sub-population's LF truncated at the star's own limit.
    n_m = ABS_G_GRID.size
    dm = ABS_G_GRID[1] - ABS_G_GRID[0]
    m_lim = _abs_limit(dist, field.g_limit, xp)
    j = xp.clip((m_lim - ABS_G_GRID[0]) / dm, 0.0, n_m - 1.000001)
    j0 = xp.floor(j).astype(xp.int64)
    frac = j - j0
    base = table * n_m + j0
    f_lim = field.lf_cdf[base] * (1.0 - frac) + field.lf_cdf[base + 1] * frac
    abs_g = xp.interp(2.0 * table + rng.random(n) * f_lim, field.lf_x, field.lf_m)

    e = rng.standard_normal(n)
    dwarf_colour = main_sequence_colour(abs_g, xp) - _pick(DWARF_COLOUR_SHIFT, comp, xp)
    giant_colour = giant_branch_colour(abs_g, 0.0, xp) + _pick(GIANT_BASE_COLOUR, comp, xp)
    clump_mean = _pick(tuple(c[0] for c in CLUMP_COLOUR), comp, xp)
    clump_sigma = _pick(tuple(c[1] for c in CLUMP_COLOUR), comp, xp)
    colour = xp.where(
        sub == 0,
        dwarf_colour + COLOUR_SCATTER * e,
        xp.where(sub == 1, giant_colour + COLOUR_SCATTER * e, clump_mean + clump_sigma * e),
    )

    # Kinematics in Galactocentric cylindrical coordinates.
    gx, gy, _ = icrs_to_galactocentric(pos, galaxy)
    r_cyl = xp.sqrt(gx * gx + gy * gy) + 1e-12
    v_phi_mean = (
        galaxy.v_circ - galaxy.thin_drift,
        galaxy.v_circ - galaxy.thick_drift,
        galaxy.halo_rotation,
    )
    sigmas = (galaxy.thin_sigma, galaxy.thick_sigma, galaxy.halo_sigma)
    v_r = _pick(tuple(s[0] for s in sigmas), comp, xp) * rng.standard_normal(n)
    v_phi = _pick(v_phi_mean, comp, xp) + _pick(
        tuple(s[1] for s in sigmas), comp, xp
    ) * rng.standard_normal(n)
    v_z = _pick(tuple(s[2] for s in sigmas), comp, xp) * rng.standard_normal(n)
    # Rotation direction (y, −x) / R: +y at the Sun's position (−R0, 0, z_sun).
    vel_gc = (
        (v_r * gx + v_phi * gy) / r_cyl,
        (v_r * gy - v_phi * gx) / r_cyl,
        v_z,
    )
    vel = galactocentric_velocity_to_icrs(vel_gc, galaxy)
    if field.mirror:
        m = mirror_matrix()
        u = apply_matrix(m, u)
        vel = tuple(-c for c in apply_matrix(m, vel))
    ra, dec, _ = to_radec(u, xp)
    return drawn_stars(
        ra,
        dec,
        dist,
        vel,
        g=abs_g + 5.0 * xp.log10(dist * 100.0) + MW_EXTINCTION_G,
        colour=colour + REDDENING_RATIO * MW_EXTINCTION_G,
        component=comp,
        xp=xp,
    )
