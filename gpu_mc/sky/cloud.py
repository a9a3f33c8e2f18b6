"""Members of a target galaxy: an inclined exponential disc with a bar (the Magellanic
Clouds) or a flattened Plummer spheroid (a dwarf spheroidal), with rotation and dispersion,
and a colour–magnitude diagram with upper main sequence, red giant branch, red clump,
Cepheid-like and RR-Lyrae-like stars.

Geometry: the disc frame has x̂ along the line of nodes (position angle θ on the sky), ŷ in
the disc plane tilted by the inclination i out of the sky plane, and ẑ = x̂ × ŷ its normal.
The side at position angle θ − 90° is nearer (the north-east side for the LMC, van der Marel
& Cioni 2001). Star positions are 3-D heliocentric vectors, so each star's ra, dec, distance
and perspective in its proper motion follow exactly.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.constants import CloudParams
from gpu_mc.sky.drawn import drawn_stars
from gpu_mc.sky.geometry import Vec, dot, sky_basis, systemic_velocity, to_radec
from gpu_mc.sky.photometry import (
    REDDENING_RATIO,
    giant_branch_colour,
    main_sequence_colour,
    truncated_exponential_lf,
)

#: Sense of rotation about the disc normal ẑ (which points towards the observer): −1 makes
#: the discs rotate clockwise on the sky, as measured for the LMC (van der Marel &
#: Kallivayalil 2014, ApJ 781, 121); the SMC's weak rotation uses the same sense (our
#: assumption).
ROTATION_SENSE = -1.0

#: Shares of the non-variable members in the upper main sequence, red giant branch and red
#: clump, before the G cut (our assumption, giving a Gaia-like Cloud CMD).
CMD_FRACTIONS = (0.40, 0.48, 0.12)

#: Upper main sequence: dN/dM_G ∝ 10**(0.35 M_G) from M_G = −5 to the faint limit; BP − RP
#: from the solar-metallicity main sequence with 0.05 mag scatter (our assumption).
MS_SLOPE, MS_BRIGHT, MS_COLOUR_SCATTER = 0.35, -5.0, 0.05

#: Red giant branch: dN/dM_G ∝ 10**(0.3 M_G) up to the tip at M_G = −3.6; BP − RP from
#: :func:`~gpu_mc.sky.photometry.giant_branch_colour` with base 0.95 and 0.04 scatter (our
#: assumption).
RGB_SLOPE, RGB_TIP, RGB_BASE_COLOUR, RGB_COLOUR_SCATTER = 0.3, -3.6, 0.95, 0.04

#: Red clump: M_G = 0.45 ± 0.15, BP − RP = 1.05 ± 0.05 (intrinsic; Ruiz-Dern et al. 2018,
#: A&A 609, A116 for M_G; colour our assumption for the Clouds' metallicity).
RC_ABS_G, RC_ABS_G_SIGMA, RC_COLOUR, RC_COLOUR_SIGMA = 0.45, 0.15, 1.05, 0.05

#: RR-Lyrae-like: M_G = 0.6 ± 0.1, BP − RP = 0.5 ± 0.05 (our assumption after Muraveva et al.
#: 2018, MNRAS 481, 1195).
RRL_ABS_G, RRL_ABS_G_SIGMA, RRL_COLOUR, RRL_COLOUR_SIGMA = 0.6, 0.1, 0.5, 0.05

#: Cepheid-like: log10 P ~ N(0.5, 0.25) clipped to [0.05, 1.55], a P-L-like relation
#: M_G = −1.9 − 2.6 log10 P (−2 to −6) and BP − RP = 0.6 + 0.25 log10 P ± 0.04 clipped to
#: [0.6, 1.0] (our assumption, shaped after Ripepi et al. 2019, A&A 625, A14).
CEP_LOGP_MEAN, CEP_LOGP_SIGMA, CEP_LOGP_RANGE = 0.5, 0.25, (0.05, 1.55)

#: Magnitudes beyond the G limit kept before observational noise is added, mag: stars
#: scattered across the limit by the G error are then selected on observed G.
G_MARGIN = 0.05


def disc_frame(cloud: CloudParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors of the Cloud's disc frame and its centre direction, ICRS.

    Parameters
    ----------
    cloud : CloudParams
        Cloud geometry.

    Returns
    -------
    x_hat, y_hat, z_hat, u0 : numpy.ndarray, shape (3,)
        Line of nodes, in-plane perpendicular (its positive side farther), disc normal, and
        the direction of the centre.
    """
    e_a, e_d, u0 = (np.array(b, dtype=float) for b in sky_basis(cloud.ra0, cloud.dec0))
    th = np.deg2rad(cloud.position_angle)
    inc = np.deg2rad(cloud.inclination)
    x_hat = np.cos(th) * e_d + np.sin(th) * e_a
    m_hat = -np.sin(th) * e_d + np.cos(th) * e_a
    y_hat = np.cos(inc) * m_hat + np.sin(inc) * u0
    return x_hat, y_hat, np.cross(x_hat, y_hat), u0


def expansion_axis(cloud: CloudParams) -> np.ndarray:
    """Unit vector of the stretching axis: in the sky plane at the centre, at position angle
    ``cloud.expansion_angle`` (north through east), ICRS, shape (3,)."""
    e_a, e_d, _ = (np.array(b, dtype=float) for b in sky_basis(cloud.ra0, cloud.dec0))
    th = np.deg2rad(cloud.expansion_angle)
    return np.cos(th) * e_d + np.sin(th) * e_a


def with_expansion(pos: Vec, vel: Vec, cloud: CloudParams) -> Vec:
    """Add the target's stretching field to velocities: v + rate (r · ê) ê.

    Parameters
    ----------
    pos : tuple of 3 arrays, shape (n,)
        Heliocentric ICRS positions, kpc (the centre's own part is perpendicular to ê).
    vel : tuple of 3 arrays, shape (n,)
        Velocities before the stretching, km/s.
    cloud : Target
        ``expansion_rate`` (km/s per kpc) and ``expansion_angle`` (deg) set ê and the rate.

    Returns
    -------
    tuple of 3 arrays, shape (n,)
        ``vel`` itself when the rate is 0 (the same arrays, bit for bit).
    """
    if not cloud.expansion_rate:
        return vel
    e = tuple(float(c) for c in expansion_axis(cloud))
    s = cloud.expansion_rate * dot(pos, e)
    return tuple(vel[k] + s * e[k] for k in range(3))


def _disc_positions(n: int, cloud: CloudParams, rng: Any, xp: ModuleType) -> tuple[Any, ...]:
    """Positions in the disc frame (kpc) of an exponential disc with a bar; component 3/4."""
    std = rng.standard_normal
    # Disc: R ~ Gamma(2, h) gives an exponential surface density; vertical Laplace profile.
    r = -cloud.scale_length * xp.log(rng.random(n) * rng.random(n) + 1e-300)
    phi = 2.0 * np.pi * rng.random(n)
    z_disc = cloud.scale_height * xp.log(rng.random(n) + 1e-300)
    z_disc = xp.where(rng.random(n) < 0.5, z_disc, -z_disc)
    # Bar: Gaussian along (σ = half-length / 2) and across (σ = width / 2) the bar.
    beta = np.deg2rad(cloud.bar_angle)
    xb = 0.5 * cloud.bar_length * std(n)
    yb = 0.5 * cloud.bar_width * std(n)
    bar = rng.random(n) < cloud.bar_fraction
    x = xp.where(bar, xb * np.cos(beta) - yb * np.sin(beta), r * xp.cos(phi))
    y = xp.where(bar, xb * np.sin(beta) + yb * np.cos(beta), r * xp.sin(phi))
    z = xp.where(bar, 0.5 * cloud.scale_height * std(n), z_disc)
    return x, y, z, xp.where(bar, 4, 3).astype(xp.int8)


def _spheroid_positions(n: int, cloud: CloudParams, rng: Any, xp: ModuleType) -> tuple[Any, ...]:
    """Positions in the disc frame (kpc) of a flattened Plummer spheroid; component 5.

    The Plummer radius is ``scale_length`` in the plane and ``scale_height`` along the
    normal; the bar fields are unused.
    """
    # Plummer sphere of unit radius: the enclosed mass fraction u = r³ / (1 + r²)^(3/2).
    u = rng.random(n)
    r = 1.0 / xp.sqrt(u ** (-2.0 / 3.0) - 1.0 + 1e-300)
    cos_t = 2.0 * rng.random(n) - 1.0
    sin_t = xp.sqrt(1.0 - cos_t * cos_t)
    phi = 2.0 * np.pi * rng.random(n)
    x = cloud.scale_length * r * sin_t * xp.cos(phi)
    y = cloud.scale_length * r * sin_t * xp.sin(phi)
    z = cloud.scale_height * r * cos_t
    return x, y, z, xp.full(n, 5, dtype=xp.int8)


#: How member positions are drawn for each ``Target.structure``.
POSITIONS = {"disc": _disc_positions, "spheroid": _spheroid_positions}


def draw_cloud(
    n: int,
    cloud: CloudParams,
    rng: Any,
    g_limit: float,
    p_cepheid: float,
    p_rr_lyrae: float,
    xp: ModuleType = np,
) -> dict[str, Any]:
    """Draw candidate Cloud members (before the cone and observed-G cuts).

    Parameters
    ----------
    n : int
        Number of candidates.
    cloud : Target
        Geometry, structure, kinematics and extinction of the target.
    rng : Generator
        Random generator of namespace ``xp``.
    g_limit : float
        Faint limit, mag; magnitudes are drawn up to ``g_limit + G_MARGIN``.
    p_cepheid, p_rr_lyrae : float
        Probability that a member is Cepheid-like or RR-Lyrae-like.
    xp : module
        Array namespace.

    Returns
    -------
    dict of arrays, shape (n,)
        ``ra``, ``dec`` (deg), ``distance_kpc``, ``pmra``, ``pmdec`` (mas/yr), ``vlos``
        (km/s), ``g`` (true apparent G), ``colour`` (apparent BP − RP), ``component``
        (3 disc, 4 bar, 5 spheroid), ``variable`` (0, 1 Cepheid-like, 2 RR-Lyrae-like) and
        ``keep`` (inside the cone).
    """
    std = rng.standard_normal
    x, y, z, component = POSITIONS[cloud.structure](n, cloud, rng, xp)

    radius = xp.sqrt(x * x + y * y) + 1e-12
    v_rot = ROTATION_SENSE * cloud.v_flat * xp.minimum(radius / cloud.r_flat, 1.0) / radius
    vx_d, vy_d = -v_rot * y, v_rot * x

    x_hat, y_hat, z_hat, u0 = disc_frame(cloud)
    v0 = systemic_velocity(
        cloud.ra0, cloud.dec0, cloud.distance, cloud.pmra0, cloud.pmdec0, cloud.vlos0
    )
    pos = tuple(
        cloud.distance * u0[k] + x * x_hat[k] + y * y_hat[k] + z * z_hat[k] for k in range(3)
    )
    vel = tuple(
        v0[k] + vx_d * x_hat[k] + vy_d * y_hat[k] + cloud.sigma_v * std(n) for k in range(3)
    )
    vel = with_expansion(pos, vel, cloud)
    ra, dec, dist = to_radec(pos, xp)
    keep = dot(pos, tuple(float(c) for c in u0)) >= dist * np.cos(np.deg2rad(cloud.cone_radius))

    # Colour-magnitude diagram.
    dmod = 5.0 * xp.log10(dist * 100.0)
    faint = g_limit + G_MARGIN - dmod - cloud.extinction_g
    u = rng.random(n)
    is_cep = u < p_cepheid
    is_rrl = (u >= p_cepheid) & (u < p_cepheid + p_rr_lyrae)
    w = rng.random(n)
    f_ms, f_rgb, _ = CMD_FRACTIONS
    is_ms = w < f_ms
    is_rgb = (w >= f_ms) & (w < f_ms + f_rgb)

    e1 = std(n)
    e2 = std(n)
    u1 = rng.random(n)
    m_ms = truncated_exponential_lf(u1, MS_SLOPE, MS_BRIGHT, faint, xp)
    m_rgb = truncated_exponential_lf(u1, RGB_SLOPE, RGB_TIP, faint, xp)
    logp = xp.clip(CEP_LOGP_MEAN + CEP_LOGP_SIGMA * e1, *CEP_LOGP_RANGE)
    abs_g = xp.where(
        is_ms,
        m_ms,
        xp.where(is_rgb, m_rgb, RC_ABS_G + RC_ABS_G_SIGMA * e1),
    )
    colour = xp.where(
        is_ms,
        main_sequence_colour(m_ms, xp) + MS_COLOUR_SCATTER * e2,
        xp.where(
            is_rgb,
            giant_branch_colour(m_rgb, RGB_BASE_COLOUR, xp) + RGB_COLOUR_SCATTER * e2,
            RC_COLOUR + RC_COLOUR_SIGMA * e2,
        ),
    )
    abs_g = xp.where(is_rrl, RRL_ABS_G + RRL_ABS_G_SIGMA * e1, abs_g)
    colour = xp.where(is_rrl, RRL_COLOUR + RRL_COLOUR_SIGMA * e2, colour)
    abs_g = xp.where(is_cep, -1.9 - 2.6 * logp, abs_g)
    colour = xp.where(is_cep, xp.clip(0.6 + 0.25 * logp + 0.04 * e2, 0.6, 1.0), colour)

    return drawn_stars(
        ra,
        dec,
        dist,
        vel,
        g=abs_g + dmod + cloud.extinction_g,
        colour=colour + REDDENING_RATIO * cloud.extinction_g,
        component=component,
        variable=xp.where(is_cep, 1, xp.where(is_rrl, 2, 0)),
        keep=keep,
        xp=xp,
    )
