"""HEALPix NESTED pixel indices in pure array math (NumPy or CuPy) and Gaia source_id decoding.

Gaia encodes the HEALPix level-12 NESTED pixel of each source in its ``source_id``:
``source_id // 2**35`` (Gaia DR3 data model). :func:`healpix_nested_index` computes that
pixel from (ra, dec) with element-wise operations only, following the ``ang2pix_nest``
algorithm of Górski et al. 2005 (ApJ 622, 759), so it runs unchanged on a GPU.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.backend import array_namespace

#: Highest level whose pixel coordinates fit the 32-bit interleave below (nside = 2**29).
MAX_LEVEL = 29

#: Bits below the HEALPix level-12 index in a Gaia source_id.
_SOURCE_ID_SHIFT = 35


def _spread_bits(v: Any) -> Any:
    """Move bit k of each non-negative int64 (< 2**32) to bit 2k."""
    v = v & 0xFFFFFFFF
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    return (v | (v << 1)) & 0x5555555555555555


def healpix_nested_index(ra_deg: Any, dec_deg: Any, level: int, xp: ModuleType = np) -> Any:
    """HEALPix NESTED pixel index of sky positions.

    Parameters
    ----------
    ra_deg, dec_deg : array_like, shape (n,)
        ICRS right ascension and declination, deg.
    level : int
        HEALPix order, 0 to 29 (nside = 2**level). Gaia source_ids use level 12.
    xp : module
        Array namespace, :mod:`numpy` or :mod:`cupy`.

    Returns
    -------
    array of int64, shape (n,)
        Pixel index in the NESTED scheme, 0 to 12 * 4**level - 1.
    """
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"level must be in [0, {MAX_LEVEL}], got {level}")
    nside = 1 << level
    ra = xp.asarray(ra_deg, dtype=xp.float64)
    dec = xp.asarray(dec_deg, dtype=xp.float64)
    z = xp.sin(xp.deg2rad(dec))
    tt = xp.mod(ra, 360.0) / 90.0
    tt = xp.where(tt >= 4.0, tt - 4.0, tt)

    # Equatorial belt, |z| <= 2/3.
    temp1 = nside * (0.5 + tt)
    temp2 = nside * (0.75 * z)
    # Arguments of the integer casts are non-negative, so truncation is the floor.
    jp = (temp1 - temp2).astype(xp.int64)
    jm = (temp1 + temp2).astype(xp.int64)
    ifp = jp >> level
    ifm = jm >> level
    face_eq = xp.where(ifp == ifm, ifp | 4, xp.where(ifp < ifm, ifp, ifm + 8))
    ix_eq = jm & (nside - 1)
    iy_eq = nside - (jp & (nside - 1)) - 1

    # Polar caps. 1 - |z| = 2 sin^2(colatitude / 2) keeps precision near the poles.
    half_colat = 0.5 * xp.deg2rad(90.0 - xp.abs(dec))
    tmp = nside * np.sqrt(6.0) * xp.sin(half_colat)
    ntt = xp.minimum(xp.floor(tt), 3.0)
    tp = tt - ntt
    jp_p = xp.minimum((tp * tmp).astype(xp.int64), nside - 1)
    jm_p = xp.minimum(((1.0 - tp) * tmp).astype(xp.int64), nside - 1)
    north = z >= 0
    ntt_i = ntt.astype(xp.int64)
    face_pol = xp.where(north, ntt_i, ntt_i + 8)
    ix_pol = xp.where(north, nside - jm_p - 1, jp_p)
    iy_pol = xp.where(north, nside - jp_p - 1, jm_p)

    equatorial = xp.abs(z) <= 2.0 / 3.0
    face = xp.where(equatorial, face_eq, face_pol)
    ix = xp.where(equatorial, ix_eq, ix_pol)
    iy = xp.where(equatorial, iy_eq, iy_pol)
    return face * (nside * nside) + _spread_bits(ix) + (_spread_bits(iy) << 1)


def source_id_to_healpix(source_id: Any, level: int = 12) -> Any:
    """HEALPix NESTED index encoded in Gaia source_ids.

    The one place that decodes source_id (Gaia DR3 data model).

    Parameters
    ----------
    source_id : int or array-like of int, shape (n,)
        Gaia (or gpu_mc mock) source identifiers, NumPy or CuPy.
    level : int
        HEALPix order, 0 to 12.

    Returns
    -------
    int64 array, shape (n,) (0-d for a scalar), on the input's device
        ``source_id // (2**35 * 4**(12 - level))``.
    """
    if not 0 <= level <= 12:
        raise ValueError(f"level must be in [0, 12], got {level}")
    xp = array_namespace(source_id)
    sid = xp.asarray(source_id, dtype=xp.int64)
    return sid // (1 << (_SOURCE_ID_SHIFT + 2 * (12 - level)))
