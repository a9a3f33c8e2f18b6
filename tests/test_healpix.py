"""HEALPix NESTED indices against astropy-healpix and closed-form cases."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_mc.healpix import healpix_nested_index, source_id_to_healpix
from gpu_mc.io.schema import SOURCE_ID_HEALPIX12_DIVISOR


def _random_sky(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ra = 360.0 * rng.random(n)
    dec = np.rad2deg(np.arcsin(2.0 * rng.random(n) - 1.0))
    # Include the polar caps densely, where the precision of 1 - |sin dec| matters.
    dec[: n // 10] = np.sign(dec[: n // 10]) * (90.0 - 1e-3 * rng.random(n // 10))
    return ra, dec


@pytest.mark.parametrize("level", [0, 1, 4, 12, 20, 29])
def test_matches_astropy_healpix(level: int) -> None:
    ahp = pytest.importorskip("astropy_healpix")
    import astropy.units as u

    ra, dec = _random_sky(50_000, level)
    ref = ahp.HEALPix(nside=2**level, order="nested").lonlat_to_healpix(ra * u.deg, dec * u.deg)
    got = healpix_nested_index(ra, dec, level)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ref)


def test_face_centres_at_level_zero() -> None:
    # Base pixels: 0-3 north (centres at dec = asin(2/3)), 4-7 equator, 8-11 south.
    b = np.rad2deg(np.arcsin(2.0 / 3.0))
    ra = np.array([45, 135, 225, 315, 0, 90, 180, 270, 45, 135, 225, 315], dtype=float)
    dec = np.array([b] * 4 + [0.0] * 4 + [-b] * 4)
    np.testing.assert_array_equal(healpix_nested_index(ra, dec, 0), np.arange(12))


def test_nested_hierarchy() -> None:
    ra, dec = _random_sky(20_000, 7)
    fine = healpix_nested_index(ra, dec, 12)
    for level in (11, 8, 3):
        np.testing.assert_array_equal(
            fine // 4 ** (12 - level), healpix_nested_index(ra, dec, level)
        )


def test_source_id_to_healpix() -> None:
    ra, dec = _random_sky(1000, 3)
    pix = healpix_nested_index(ra, dec, 12)
    sid = pix * SOURCE_ID_HEALPIX12_DIVISOR + np.arange(1000)
    np.testing.assert_array_equal(source_id_to_healpix(sid), pix)
    np.testing.assert_array_equal(source_id_to_healpix(sid, 9), pix // 64)
    assert source_id_to_healpix(5 * 2**35 + 17) == 5
    with pytest.raises(ValueError):
        source_id_to_healpix(sid, 13)
