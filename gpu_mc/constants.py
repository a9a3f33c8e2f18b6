"""Physical constants, the built-in target galaxies (the Magellanic Clouds) and the Milky Way.

Every number carries its source. Where a value is our own choice for the mock sky rather
than a literature value, the comment says "our assumption".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_mc.errors import ConfigError

#: km/s per (mas/yr × kpc): v_t = K_MASYR_KPC * mu * d.
K_MASYR_KPC = 4.740470463533348

#: Rotation matrix from ICRS Cartesian to Galactic Cartesian (Hipparcos definition,
#: ESA 1997 vol. 1 §1.5.3; the same matrix astropy uses for ICRS → Galactic).
ICRS_TO_GALACTIC = np.array(
    [
        [-0.0548755604162154, -0.8734370902348850, -0.4838350155487132],
        [0.4941094278755837, -0.4448296299600112, 0.7469822444972189],
        [-0.8676661490190047, -0.1980763734312015, 0.4559837761750669],
    ]
)


#: Structures a target's members can be drawn from (see :func:`gpu_mc.sky.cloud.draw_cloud`).
STRUCTURES = ("disc", "spheroid")


@dataclass(frozen=True)
class Target:
    """One target galaxy: geometry, kinematics, structure and the per-target defaults.

    A target is data: the built-in records :data:`LMC` and :data:`SMC` below, or a
    ``[target]`` table of a TOML configuration whose keys are these field names (see
    :func:`gpu_mc.config.target_from_dict`). Nothing else in the package branches on a
    target's name.

    Attributes
    ----------
    name : str
        Short identifier written into outputs and models, e.g. "lmc".
    ra0, dec0 : float
        Centre used for the orthographic projection and the base-sample cone, deg.
    cone_radius : float
        Radius of the base-sample cone, deg.
    distance : float
        Distance to the centre, kpc.
    pmra0, pmdec0 : float
        Systemic proper motion of the centre (μα*, μδ), mas/yr.
    vlos0 : float
        Systemic line-of-sight velocity, km/s.
    inclination, position_angle : float
        Inclination of the structure's plane (0 face-on) and position angle of its line of
        nodes (north through east), deg.
    scale_length, scale_height : float
        "disc": exponential scale length and vertical (Laplace) scale height, kpc.
        "spheroid": Plummer radius in the plane and along its normal, kpc (an axis ratio
        ``scale_height / scale_length`` below one flattens the spheroid).
    sigma_v : float
        Isotropic velocity dispersion, km/s.
    pm_radius : float
        Default proper-motion radius of the MC-class selection about the systemic motion,
        mas/yr (:class:`~gpu_mc.config.SampleConfig` ``pm_radius`` overrides it).
    mc_fraction : float
        Default share of members among the rows of the mock base sample
        (:class:`~gpu_mc.config.SkyConfig` ``mc_fraction`` overrides it).
    los_velocity_threshold : float
        Mock line-of-sight velocity catalogue: a star above this velocity counts as a
        member, km/s.
    structure : {"disc", "spheroid"}
        How member positions are drawn.
    bar_fraction, bar_length, bar_width, bar_angle : float
        "disc" only: fraction of stars in the bar, its half-length and width (kpc), and its
        angle from the line of nodes in the disc plane (deg).
    v_flat, r_flat : float
        Flat rotation speed (km/s) and the radius (kpc) inside which it rises linearly.
    expansion_rate, expansion_angle : float
        Velocity field beyond the centre-of-mass motion: a linear stretching along the axis
        in the sky plane at position angle ``expansion_angle`` (deg, north through east) at
        the centre. A star offset by s kpc along that axis moves along it by
        ``expansion_rate`` × s km/s (km/s per kpc; positive stretches, negative
        compresses, 0 none). See :func:`gpu_mc.sky.cloud.expansion_velocity`.
    extinction_g : float
        Mean G-band extinction towards the target, mag.
    error_scale : float
        Default Gaia astrometric errors relative to PyGaia's sky average in this direction
        (:class:`~gpu_mc.config.SkyConfig` ``error_scale`` overrides it).
    cepheid_rate, rr_lyrae_rate : float
        Cepheid-like and RR-Lyrae-like members per base-sample row (mock validation
        catalogues).
    base_sample_rows : float or None
        Rows of the real Gaia base sample (cone, G ≤ 20.5), which sets the source density
        behind the empirical error model's crowding term; None: the mock's own size.
    """

    name: str
    ra0: float
    dec0: float
    cone_radius: float
    distance: float
    pmra0: float
    pmdec0: float
    vlos0: float
    inclination: float
    position_angle: float
    scale_length: float
    scale_height: float
    sigma_v: float
    pm_radius: float
    mc_fraction: float
    los_velocity_threshold: float
    structure: str = "disc"
    bar_fraction: float = 0.0
    bar_length: float = 0.0
    bar_width: float = 0.0
    bar_angle: float = 0.0
    v_flat: float = 0.0
    r_flat: float = 1.0
    expansion_rate: float = 0.0
    expansion_angle: float = 0.0
    extinction_g: float = 0.0
    error_scale: float = 1.0
    cepheid_rate: float = 0.0
    rr_lyrae_rate: float = 0.0
    base_sample_rows: float | None = None

    @property
    def parallax(self) -> float:
        """Parallax of the centre, mas."""
        return 1.0 / self.distance

    @property
    def distance_modulus(self) -> float:
        """Distance modulus of the centre, mag."""
        return 5.0 * np.log10(self.distance * 1000.0) - 5.0


#: The former name of :class:`Target` (the records began as the two Magellanic Clouds).
CloudParams = Target

#: Gaia DR3 astrometric uncertainties towards the Clouds relative to PyGaia's sky average.
#: The Clouds lie near the south ecliptic pole where Gaia scans more often; on a real Gaia
#: EDR3 sample of 36,000 SMC-field stars the median parallax error is 0.60-0.70 of the sky
#: average at every G from 15.5 to 20.5. We take the middle of that range.
ECLIPTIC_POLE_ERROR_SCALE = 0.65

LMC = Target(
    name="lmc",
    # Centre and 20° cone: Gaia Collaboration, Luri et al. 2021, A&A 649, A7 (base sample).
    ra0=81.28,
    dec0=-69.78,
    cone_radius=20.0,
    # Pietrzyński et al. 2019, Nature 567, 200: 49.59 kpc.
    distance=49.59,
    # Gaia Collaboration, Luri et al. 2021, A&A 649, A7 (EDR3), Table 4 median, as quoted in
    # issue 12 (not re-checked against the paper here: no access offline).
    pmra0=1.871,
    pmdec0=0.391,
    # van der Marel et al. 2002, AJ 124, 2639.
    vlos0=262.2,
    # van der Marel & Cioni 2001, AJ 122, 1807.
    inclination=34.7,
    position_angle=122.5,
    # Scale length about 1.5 kpc: van der Marel 2001, AJ 122, 1827. Scale height: our assumption.
    structure="disc",
    scale_length=1.5,
    scale_height=0.35,
    # Bar: our assumption, shaped after the Gaia DR3 density maps (Luri et al. 2021 Fig. 3).
    bar_fraction=0.15,
    bar_length=1.7,
    bar_width=0.45,
    bar_angle=25.0,
    # Rotation: van der Marel & Kallivayalil 2014 (ApJ 781, 121) find ~90 km/s; Luri et al.
    # 2021 ~ 80 km/s. We use 80 km/s flat beyond 2.5 kpc (our assumption within that range).
    v_flat=80.0,
    r_flat=2.5,
    # Dispersion: our assumption (~20-30 km/s for intermediate-age LMC populations).
    sigma_v=25.0,
    # Our assumption: E(B-V) ~ 0.08 mean reddening, A_G ~ 2.7 E(B-V).
    extinction_g=0.22,
    # MC-class proper-motion radius 1.5 mas/yr: room for the LMC's rotation and perspective
    # over 20° (our assumption).
    pm_radius=1.5,
    # Members among base-sample rows, chosen so that the sample sizes resemble the papers'
    # (18M base → 12M complete / 10M optimal; our assumption).
    mc_fraction=0.60,
    error_scale=ECLIPTIC_POLE_ERROR_SCALE,
    # About 4.5k Cepheids and 21k RR Lyrae among 18M base stars (Gaia DR3 variability
    # cross-matches quoted by Jiménez-Arranz et al. 2023a).
    cepheid_rate=4.5e3 / 18e6,
    rr_lyrae_rate=21e3 / 18e6,
    # 18M base-sample stars (Jiménez-Arranz et al. 2023a).
    base_sample_rows=18e6,
    # Members have v_los ≈ 262 ± 50 km/s; the foreground rarely exceeds 150 km/s (our choice).
    los_velocity_threshold=150.0,
)

SMC = Target(
    name="smc",
    # Centre and 11° cone: Gaia Collaboration, Luri et al. 2021, A&A 649, A7.
    ra0=12.80,
    dec0=-73.15,
    cone_radius=11.0,
    # Graczyk et al. 2020, ApJ 904, 13: 62.44 kpc.
    distance=62.44,
    # Gaia Collaboration, Luri et al. 2021, A&A 649, A7 (EDR3), Table 4 median, as quoted in
    # issue 12 (not re-checked against the paper here: no access offline).
    pmra0=0.686,
    pmdec0=-1.237,
    # Harris & Zaritsky 2006, AJ 131, 2514.
    vlos0=145.6,
    # The SMC is a thick, elongated spheroid seen nearly along its long axis; a strongly
    # inclined thick disc stands in for it (our assumption; i, PA after Subramanian &
    # Subramaniam 2012, ApJ 744, 128, who find i ~ 58°, PA ~ 55°).
    structure="disc",
    inclination=58.0,
    position_angle=55.0,
    scale_length=0.9,
    scale_height=1.2,
    bar_fraction=0.25,
    bar_length=1.2,
    bar_width=0.5,
    bar_angle=10.0,
    # Little rotation (our assumption); dispersion 27.5 km/s: Harris & Zaritsky 2006.
    v_flat=20.0,
    r_flat=3.0,
    sigma_v=27.5,
    # Tidal stretching by the LMC: Zivick et al. 2021 (ApJ 910, 36) fit a tidal expansion of
    # about 10 km/s per kpc to the Gaia DR2 proper motions of SMC red giants; De Leo et al.
    # 2020 (MNRAS 495, 98) find stars moving outwards along the direction towards the LMC.
    # The axis points at the LMC's centre seen from the SMC's (position angle 115.1°,
    # computed from the two centres above); one linear gradient across the whole cone is
    # our simplification.
    expansion_rate=10.0,
    expansion_angle=115.1,
    # Our assumption: E(B-V) ~ 0.05.
    extinction_g=0.14,
    # MC-class proper-motion radius 0.8 mas/yr: smaller internal motions; a wider cut admits
    # too much halo (our assumption).
    pm_radius=0.8,
    # Members among base-sample rows (our assumption, as for the LMC).
    mc_fraction=0.45,
    error_scale=ECLIPTIC_POLE_ERROR_SCALE,
    # About 4.8k Cepheids and 2.9k RR Lyrae among 5M base stars (Jiménez-Arranz et al. 2023b).
    cepheid_rate=4.8e3 / 5e6,
    rr_lyrae_rate=2.9e3 / 5e6,
    # About 5M base-sample stars (Jiménez-Arranz et al. 2023b).
    base_sample_rows=5e6,
    # Members have v_los ≈ 146 ± 30 km/s; the foreground rarely exceeds 100 km/s (our choice).
    los_velocity_threshold=100.0,
)

#: The built-in targets by name.
TARGETS: dict[str, Target] = {"lmc": LMC, "smc": SMC}

#: The former name of :data:`TARGETS`.
CLOUDS = TARGETS


def as_target(target: str | Target) -> Target:
    """The record of ``target``: a :class:`Target` itself, or a built-in one by name.

    Raises
    ------
    ConfigError
        If ``target`` is a name that no built-in record has.
    """
    if isinstance(target, Target):
        return target
    if isinstance(target, str) and target in TARGETS:
        return TARGETS[target]
    raise ConfigError(
        f"unknown target {target!r}; built-in targets: {', '.join(TARGETS)} "
        "(add others with a target table in the configuration)"
    )


@dataclass(frozen=True)
class GalaxyParams:
    """Milky Way structure and kinematics for the foreground model.

    Distances in kpc, velocities in km/s.
    """

    # GRAVITY Collaboration 2018, A&A 615, L15.
    r_sun: float = 8.122
    # Bennett & Bovy 2019, MNRAS 482, 1417.
    z_sun: float = 0.0208
    # Eilers et al. 2019, ApJ 871, 120.
    v_circ: float = 229.0
    # Schönrich, Binney & Dehnen 2010, MNRAS 403, 1829: (U, V, W).
    u_sun: float = 11.1
    v_sun: float = 12.24
    w_sun: float = 7.25
    # Jurić et al. 2008, ApJ 673, 864 (their Table 10, bias-corrected).
    thin_scale_length: float = 2.6
    thin_scale_height: float = 0.30
    thick_scale_length: float = 3.6
    thick_scale_height: float = 0.90
    thick_local_fraction: float = 0.12
    halo_local_fraction: float = 0.0051
    halo_power: float = 2.77
    halo_flattening: float = 0.64
    # Velocity dispersions (σ_R, σ_φ, σ_z) and asymmetric drift: thin and thick disc after
    # Bensby et al. 2003 (A&A 410, 527), halo after Bond et al. 2010 (ApJ 716, 1).
    thin_sigma: tuple[float, float, float] = (35.0, 25.0, 18.0)
    thin_drift: float = 15.0
    thick_sigma: tuple[float, float, float] = (67.0, 38.0, 35.0)
    thick_drift: float = 46.0
    halo_sigma: tuple[float, float, float] = (141.0, 75.0, 85.0)
    halo_rotation: float = 0.0


MILKY_WAY = GalaxyParams()

#: Faint limit of the base sample, mag (Jiménez-Arranz et al. 2023a,b; Luri et al. 2021).
G_LIMIT = 20.5
