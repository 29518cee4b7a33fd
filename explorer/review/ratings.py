"""Star ratings summed up per group: mean, count, spread and a 95 % interval of the mean."""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["mean", "count", "std", "ci_low", "ci_high"]


def star_summary(ratings: pd.DataFrame, by: str = "run_id") -> pd.DataFrame:
    """Per value of ``by``: ``mean``, ``count``, ``std`` (sample, ddof=1) and ``ci_low``/``ci_high``,
    the 95 % t-interval of the mean (NaN with a single rating). Best mean first.

    Pass latest ratings (``lab.ratings()``): each author's latest rating per run counts once.

    >>> r = pd.DataFrame({"run_id": ["a", "a", "a", "b"], "score": [4, 5, 3, 2]})
    >>> s = star_summary(r)
    >>> s[["run_id", "mean", "count", "std"]].to_dict("records")
    [{'run_id': 'a', 'mean': 4.0, 'count': 3, 'std': 1.0}, {'run_id': 'b', 'mean': 2.0, 'count': 1, 'std': nan}]
    >>> [round(x, 3) for x in s.loc[0, ["ci_low", "ci_high"]]]  # 4 ± t(0.975, 2) · 1 / √3
    [1.516, 6.484]
    """
    if by not in ratings.columns or "score" not in ratings.columns:
        raise ValueError(f"ratings: need columns {by!r} and 'score'")
    grouped = ratings.groupby(by, sort=False, dropna=True)["score"]
    out = grouped.agg(["mean", "count", "std"]).reset_index()
    out["mean"] = out["mean"].astype(float)
    out["count"] = out["count"].astype(int)
    half = _quantile(out["count"].to_numpy()) * out["std"].to_numpy(dtype=float) / np.sqrt(out["count"].to_numpy(dtype=float))
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    out = out[[by, *COLUMNS]]
    return out.sort_values(["mean", "count"], ascending=False, kind="stable").reset_index(drop=True)


def _quantile(count: np.ndarray) -> np.ndarray:
    """The two-sided 95 % critical value for a mean of ``count`` ratings (NaN below 2)."""
    dof = count.astype(float) - 1
    return np.where(dof >= 1, student_t_975(np.where(dof >= 1, dof, 1)), np.nan)


def student_t_975(dof):
    """Student's t 97.5 % quantile for ``dof`` ≥ 1 degrees of freedom (a number or an array).

    Not ``scipy.stats.t.ppf``: importing ``scipy.special`` (the ``stdtrit`` behind it) takes
    0.4–0.6 s, a quarter of every ``explorer export``. Below 60 degrees of freedom the values
    are the printed table (scipy's, to 15 digits); from 60 on, the Cornish–Fisher expansion of
    t about the normal quantile (Abramowitz & Stegun 26.7.5, four terms), within 5e-10 of
    scipy. ``tests/test_review_math.py`` checks both against ``scipy.stats.t.ppf``.
    """
    dof = np.asarray(dof, dtype=float)
    whole = np.clip(np.round(dof), 1, len(T_975)).astype(int)
    z = Z_975
    series = z + ((z**3 + z) / 4) / dof + ((5 * z**5 + 16 * z**3 + 3 * z) / 96) / dof**2 \
        + ((3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384) / dof**3 \
        + ((79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160) / dof**4
    value = np.where(dof < len(T_975) + 1, np.asarray(T_975)[whole - 1], series)
    return value if value.ndim else float(value)


Z_975 = 1.959963984540054  # the normal 97.5 % quantile
T_975 = (  # t's 97.5 % quantile for 1, 2, …, 59 degrees of freedom
    12.7062047361747, 4.30265272974946, 3.18244630528371, 2.77644510519779, 2.57058183563631, 2.44691185114498,
    2.36462425159278, 2.30600413520417, 2.2621571627982, 2.22813885198627, 2.20098516009164, 2.17881282966723,
    2.16036865646279, 2.1447866879178, 2.13144954555978, 2.11990529922125, 2.10981557783332, 2.10092204024104,
    2.09302405440831, 2.08596344726586, 2.07961384472768, 2.07387306790403, 2.06865761041905, 2.06389856162802,
    2.0595385527533, 2.05552943864287, 2.05183051648028, 2.04840714179525, 2.0452296421327, 2.04227245630124,
    2.03951344639641, 2.0369333434601, 2.03451529744934, 2.03224450931772, 2.03010792825034, 2.02809400098045,
    2.02619246302911, 2.02439416391197, 2.02269092003676, 2.02107539030627, 2.01954097044138, 2.01808170281844,
    2.01669219922782, 2.01536757444376, 2.01410338888085, 2.01289559891943, 2.01174051372977, 2.01063475762423,
    2.00957523712924, 2.00855911210076, 2.00758377031584, 2.00664680506169, 2.00574599531787, 2.00487928818806,
    2.00404478328915, 2.00324071884787, 2.00246545929101, 2.00171748414524, 2.00099537808827,
)
