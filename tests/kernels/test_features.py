"""Fused feature kernel: closed forms, astropy oracle, covariance, standardisation, nulls,
and the CUDA kernel (simulator) against its CPU twin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpu_mc_kernels import FEATURE_ORDER, INPUT_ORDER, compute_features

RA0, DEC0 = 81.28, -69.78  # LMC centre, deg
ALL = np.arange(11, dtype=np.int32)
ZEROS, ONES = np.zeros(11), np.ones(11)


def _stars(n: int, seed: int = 0, radius: float = 15.0) -> dict[str, np.ndarray]:
    """Random stars within about ``radius`` deg of the centre, Gaia-like dtypes."""
    rng = np.random.default_rng(seed)
    dec = np.clip(DEC0 + rng.uniform(-radius, radius, n), -89.0, 89.0)
    ra = RA0 + rng.uniform(-radius, radius, n) / np.cos(np.radians(dec))
    return {
        "ra": ra,
        "dec": dec,
        "pmra": rng.normal(1.8, 1.0, n),
        "pmdec": rng.normal(0.3, 1.0, n),
        "pmra_error": rng.uniform(0.02, 0.5, n).astype(np.float32),
        "pmdec_error": rng.uniform(0.02, 0.5, n).astype(np.float32),
        "pmra_pmdec_corr": rng.uniform(-0.8, 0.8, n).astype(np.float32),
        "parallax": rng.normal(0.0, 0.2, n),
        "parallax_error": rng.uniform(0.02, 0.6, n).astype(np.float32),
        "g": rng.uniform(12.0, 20.5, n).astype(np.float32),
        "bp": rng.uniform(12.0, 21.0, n).astype(np.float32),
        "rp": rng.uniform(11.0, 20.0, n).astype(np.float32),
    }


def _raw(s: dict[str, np.ndarray], ra0: float = RA0, dec0: float = DEC0) -> np.ndarray:
    return compute_features(list(s.values()), ra0, dec0, ALL, ZEROS, ONES)[0]


def test_orders_match_package_constants():
    from gpu_mc.config import FEATURE_NAMES
    from gpu_mc.io.schema import FEATURE_INPUTS

    assert FEATURE_ORDER == FEATURE_NAMES
    assert INPUT_ORDER == FEATURE_INPUTS


@pytest.mark.parametrize("corr", [0.0, 0.7])
def test_star_at_centre(corr):
    s = {k: v[:1].copy() for k, v in _stars(1).items()}
    s["ra"][:] = RA0
    s["dec"][:] = DEC0
    s["pmra_pmdec_corr"][:] = corr
    f = _raw(s)[0]
    assert f[0] == pytest.approx(0.0, abs=1e-12) and f[1] == pytest.approx(0.0, abs=1e-12)
    assert f[2] == pytest.approx(s["pmra"][0], rel=1e-6)
    assert f[3] == pytest.approx(s["pmdec"][0], rel=1e-6)
    # At the centre the Jacobian is the identity, so σ's are the inputs whatever ρ is.
    assert f[4] == pytest.approx(s["pmra_error"][0], rel=1e-6)
    assert f[5] == pytest.approx(s["pmdec_error"][0], rel=1e-6)
    for j, name in enumerate(("parallax", "parallax_error", "g", "bp", "rp"), start=6):
        assert f[j] == np.float32(s[name][0])


def test_x_along_equator_and_meridian():
    """On the equator about (0, 0): x = sin α (deg units), y = sin δ on the meridian."""
    s = _stars(2)
    s["ra"][:] = [30.0, 0.0]
    s["dec"][:] = [0.0, 30.0]
    f = _raw(s, 0.0, 0.0)
    deg = 180.0 / math.pi
    assert f[0, 0] == pytest.approx(0.5 * deg, rel=1e-6)
    assert f[0, 1] == pytest.approx(0.0, abs=1e-5)
    assert f[1, 0] == pytest.approx(0.0, abs=1e-5)
    assert f[1, 1] == pytest.approx(0.5 * deg, rel=1e-6)


def _astropy_offset(s: dict[str, np.ndarray], pmra, pmdec):
    """(x, y) in deg and (μx, μy) from astropy's SkyOffsetFrame about the centre.

    In the offset frame the star's unit vector is (cos b' cos l', cos b' sin l', sin b'), the
    centre is (1, 0, 0), east is (0, 1, 0) and north (0, 0, 1); so x = cos b' sin l',
    y = sin b', and differentiating in time, μx = cos l' μl' − sin b' sin l' μb',
    μy = cos b' μb' with μl' = pm_lon_coslat and μb' = pm_lat.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord, SkyOffsetFrame

    c = SkyCoord(
        ra=s["ra"] * u.deg,
        dec=s["dec"] * u.deg,
        pm_ra_cosdec=np.asarray(pmra) * u.mas / u.yr,
        pm_dec=np.asarray(pmdec) * u.mas / u.yr,
        frame="icrs",
    )
    off = c.transform_to(SkyOffsetFrame(origin=SkyCoord(ra=RA0 * u.deg, dec=DEC0 * u.deg)))
    lon, lat = off.lon.rad, off.lat.rad
    mul = off.pm_lon_coslat.to_value(u.mas / u.yr)
    mub = off.pm_lat.to_value(u.mas / u.yr)
    x = np.degrees(np.cos(lat) * np.sin(lon))
    y = np.degrees(np.sin(lat))
    mux = np.cos(lon) * mul - np.sin(lat) * np.sin(lon) * mub
    muy = np.cos(lat) * mub
    return x, y, mux, muy


def test_projection_and_pm_against_astropy():
    s = _stars(500, seed=3, radius=20.0)
    f = _raw(s)
    x, y, mux, muy = _astropy_offset(s, s["pmra"], s["pmdec"])
    # float32 output: relative 1e-6 of values up to ~20 deg or a few mas/yr.
    np.testing.assert_allclose(f[:, 0], x, atol=2e-5)
    np.testing.assert_allclose(f[:, 1], y, atol=2e-5)
    np.testing.assert_allclose(f[:, 2], mux, atol=1e-5)
    np.testing.assert_allclose(f[:, 3], muy, atol=1e-5)


def test_covariance_against_astropy_jacobian():
    """σμx, σμy equal diag(J C Jᵀ), with J's columns the astropy images of unit PMs."""
    s = _stars(300, seed=4, radius=20.0)
    n = len(s["ra"])
    _, _, jx1, jy1 = _astropy_offset(s, np.ones(n), np.zeros(n))
    _, _, jx2, jy2 = _astropy_offset(s, np.zeros(n), np.ones(n))
    jac = np.stack([np.stack([jx1, jx2], -1), np.stack([jy1, jy2], -1)], -2)  # (n, 2, 2)
    sa = s["pmra_error"].astype(np.float64)
    sd = s["pmdec_error"].astype(np.float64)
    rho = s["pmra_pmdec_corr"].astype(np.float64)
    cov = np.empty((n, 2, 2))
    cov[:, 0, 0], cov[:, 1, 1] = sa**2, sd**2
    cov[:, 0, 1] = cov[:, 1, 0] = rho * sa * sd
    expected = np.sqrt(np.einsum("nij,njk,nik->ni", jac, cov, jac))
    f = _raw(s)
    np.testing.assert_allclose(f[:, 4], expected[:, 0], rtol=1e-5)
    np.testing.assert_allclose(f[:, 5], expected[:, 1], rtol=1e-5)


def test_covariance_monte_carlo():
    """One star far from the centre: the spread of transformed PM draws matches σμx, σμy."""
    s = {k: v[:1].copy() for k, v in _stars(1).items()}
    s["ra"][:], s["dec"][:] = RA0 + 25.0, DEC0 + 12.0
    s["pmra_error"][:], s["pmdec_error"][:], s["pmra_pmdec_corr"][:] = 0.3, 0.1, -0.6
    f = _raw(s)[0]
    m = 200_000
    rng = np.random.default_rng(5)
    c = -0.6 * 0.3 * 0.1
    pm = rng.multivariate_normal([0.0, 0.0], [[0.09, c], [c, 0.01]], size=m)
    draws = {k: np.repeat(v, m) for k, v in s.items()}
    draws["pmra"], draws["pmdec"] = pm[:, 0], pm[:, 1]
    mc = _raw(draws)
    # Relative error of a sample std is 1/sqrt(2m) ≈ 0.16%; allow 5σ.
    assert mc[:, 2].std() == pytest.approx(f[4], rel=5 / math.sqrt(2 * m))
    assert mc[:, 3].std() == pytest.approx(f[5], rel=5 / math.sqrt(2 * m))


def test_standardisation_and_select():
    s = _stars(400, seed=6)
    raw = _raw(s)
    select = np.array([0, 1, 2, 3, 4, 5, 8, 9, 10], dtype=np.int32)  # without parallax
    rng = np.random.default_rng(7)
    mean = rng.normal(size=select.size)
    scale = rng.uniform(0.5, 3.0, select.size).astype(np.float32)
    out, flags = compute_features(list(s.values()), RA0, DEC0, select, mean, scale)
    expected = (raw[:, select].astype(np.float64) - mean) / scale.astype(np.float64)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert not flags.any()


def test_output_dtype_shape_and_float32_inputs():
    s = {k: v.astype(np.float32) for k, v in _stars(100, seed=8).items()}
    select = np.array([2, 3, 0], dtype=np.int64)
    out, flags = compute_features(list(s.values()), RA0, DEC0, select, [0.0] * 3, [1.0] * 3)
    assert out.dtype == np.float32 and out.shape == (100, 3) and out.flags.c_contiguous
    assert flags.dtype == np.uint16 and flags.shape == (100,)
    ref = _raw({k: v.astype(np.float64) for k, v in s.items()})[:, [2, 3, 0]]
    np.testing.assert_allclose(out, ref, atol=1e-4)


def test_preallocated_out_is_filled():
    s = _stars(50, seed=9)
    buf = np.full((50, 11), np.nan, dtype=np.float32)
    out, _ = compute_features(list(s.values()), RA0, DEC0, ALL, ZEROS, ONES, out=buf)
    assert out is buf and np.isfinite(buf).all()


def test_nan_imputed_and_flagged():
    s = _stars(6, seed=10)
    s["pmra"][1] = np.nan  # μx and μy
    s["pmra_pmdec_corr"][2] = np.nan  # σμx and σμy: a missing ρ is not taken as 0
    s["bp"][3] = np.nan
    s["parallax"][4] = np.inf
    s["ra"][5] = np.nan  # every position-dependent feature
    mean = np.full(11, 0.5)
    out, flags = compute_features(list(s.values()), RA0, DEC0, ALL, mean, ONES)
    bit = {name: 1 << j for j, name in enumerate(FEATURE_ORDER)}
    assert flags[0] == 0
    assert flags[1] == bit["mu_x"] | bit["mu_y"]
    assert flags[2] == bit["sigma_mu_x"] | bit["sigma_mu_y"]
    assert flags[3] == bit["bp"]
    assert flags[4] == bit["parallax"]
    assert flags[5] == sum(bit[k] for k in FEATURE_ORDER[:6])
    for i in range(6):
        for j in range(11):
            if flags[i] & (1 << j):
                assert out[i, j] == 0.0
    assert np.isfinite(out).all()
    # A feature left out of `select` is not flagged, and bits follow raw indices.
    sub = np.array([9, 10], dtype=np.int32)
    out2, flags2 = compute_features(list(s.values()), RA0, DEC0, sub, np.zeros(2), np.ones(2))
    assert flags2.tolist() == [0, 0, 0, bit["bp"], 0, 0]
    assert out2[3, 0] == 0.0


def test_bad_arguments():
    s = _stars(10)
    cols = list(s.values())
    with pytest.raises(ValueError, match="select"):
        compute_features(cols, RA0, DEC0, np.array([11], np.int32), [0.0], [1.0])
    with pytest.raises(ValueError, match="mean and scale"):
        compute_features(cols, RA0, DEC0, ALL, np.zeros(3), ONES)
    with pytest.raises(ValueError, match="dec"):
        compute_features([cols[0], cols[1][:5], *cols[2:]], RA0, DEC0, ALL, ZEROS, ONES)
    with pytest.raises(ValueError, match="out"):
        compute_features(cols, RA0, DEC0, ALL, ZEROS, ONES, out=np.empty((10, 11)))
    with pytest.raises(ValueError, match="12 arrays of INPUT_ORDER, got 11"):
        compute_features(cols[:11], RA0, DEC0, ALL, ZEROS, ONES)


def test_host_and_device_arrays_are_not_mixed():
    class FakeDevice:
        __cuda_array_interface__: dict = {}  # noqa: RUF012

    cols = list(_stars(10).values())
    cols[3] = FakeDevice()
    with pytest.raises(TypeError, match="pmdec"):
        compute_features(cols, RA0, DEC0, ALL, ZEROS, ONES)


def test_import_is_lazy():
    import subprocess
    import sys

    code = (
        "import sys, gpu_mc_kernels; "
        "assert 'numba.cuda' not in sys.modules and 'cupy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.cudasim
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_kernel_matches_twin(dtype):
    s = {k: v.astype(dtype) if v.dtype == np.float64 else v for k, v in _stars(300).items()}
    s["pmdec"][7] = np.nan
    s["g"][11] = np.nan
    select = np.array([0, 1, 2, 3, 4, 5, 6, 8, 9], dtype=np.int32)
    rng = np.random.default_rng(11)
    mean, scale = rng.normal(size=9), rng.uniform(0.5, 2.0, 9)
    args = (list(s.values()), RA0, DEC0, select, mean, scale)
    cpu_out, cpu_flags = compute_features(*args, device=False)
    gpu_out, gpu_flags = compute_features(*args, device=True)
    assert gpu_out.dtype == np.float32 and gpu_out.shape == (300, 9)
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(gpu_flags, cpu_flags)
    assert cpu_flags[7] and cpu_flags[11]


@pytest.mark.gpu
def test_gpu_cupy_matches_twin(gpu_backend):
    import cupy

    s = _stars(100_000, seed=12)
    s["bp"][::97] = np.nan
    args = (RA0, DEC0)
    cpu_out, cpu_flags = compute_features(list(s.values()), *args, ALL, ZEROS, ONES)
    dev = [cupy.asarray(v) for v in s.values()]
    params = [cupy.asarray(ALL), cupy.asarray(ZEROS), cupy.asarray(ONES)]
    gpu_out, gpu_flags = compute_features(dev, *args, *params)
    assert isinstance(gpu_out, cupy.ndarray)
    np.testing.assert_allclose(gpu_out.get(), cpu_out, rtol=0, atol=2e-5)
    np.testing.assert_array_equal(gpu_flags.get(), cpu_flags)
