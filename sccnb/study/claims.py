"""Seed-aware statistics for the paper's claims: is arm A's NME lower than arm B's?

Two sources of noise separate our Δ NME from the one we want to know:

* **training seeds** -- rerunning the same config with another seed moves a run's mean test NME
  (measured on the committed profiles: ``python -m sccnb resolution``); a single pair of runs
  carries that noise twice;
* **test images** -- the test set is a sample of faces; another sample would give another Δ.

The estimate is the difference of the arms' mean NMEs, each averaged over its seeds' runs and the
same test images: ``Δ = mean_s mean_i A[s, i] − mean_s mean_i B[s, i]``. Its standard error adds
the two sources:

    SE² = s²_A / n_A + s²_B / n_B + s²_d / M

``s²_A``, ``s²_B``: variance of the per-run mean NMEs across the seeds of each arm (training noise,
with the test images held fixed); ``s²_d``: variance over the ``M`` images of the paired per-image
difference of the seed-averaged NMEs (test-sample noise; it also holds the per-image part of the
seed noise, averaged over seeds, so the sum errs on the wide side). The 95 % interval is
``Δ ± t(0.975, ν) · SE`` with Welch–Satterthwaite degrees of freedom ``ν`` from the three terms
(``n_A − 1``, ``n_B − 1``, ``M − 1``).

Why not a two-level bootstrap (resample seeds in each arm, then images paired across arms)? With
the 3 seeds a CPU budget affords, resampling 3 values with replacement shrinks their variance by
(n − 1)/n and, worse, replaces the t quantile with ν = 4 (2.78) by a normal-like 1.96: the
simulation in ``tests/test_claims.py`` (300 studies, 3 seeds per arm, seed noise dominating)
shows it covering a known Δ in 81 % of studies. The t interval above covers it in 96 %, and the
image-only bootstrap of a single pair of runs -- what the tables used before -- in 22 %.

Verdict rules (written under every claims table, :data:`RULES`):

* fewer than :data:`MIN_SEEDS` seeds in either arm: no verdict ("n seed(s): descriptive only");
  Δ is still shown;
* interval entirely below 0: **agrees** (A beats B, as the paper claims); entirely above 0:
  **disagrees**;
* otherwise **below resolution** when the paper's |Δ| is smaller than the minimum detectable
  effect of this comparison (:func:`mde`, α = 0.05 two-sided, power 0.8, the seeds used), else
  **inconclusive**;
* a claim whose paper |Δ| stays below the MDE even at the most seeds the power plan allows
  (:mod:`sccnb.study.power`) and that therefore keeps one seed: **below resolution by design**
  (the table shows that MDE).

Many claims at once (:func:`holm`). Each interval is a 95 % interval for its own claim. With m
claims and no true effect anywhere, about 1 − 0.95^m studies show at least one agrees/disagrees
by chance (64 % at m = 20). So each claim also gets its two-sided p-value (the same t statistic,
``Δ / SE``, and Welch–Satterthwaite ν as the interval; interval excludes 0 ⇔ p < 0.05) and a
**family-wise adjusted verdict**: Holm–Bonferroni over a *family*, the claims whose joint error
we want to bound. A family here is every claim of the paper tested on one data source (all of
Tables 3 and 5-8 on the real faces form one family); a probe that is not a claim of the paper
(the schedule probe, attention against no attention) is its own family, since its questions are
ours and are read apart. Claims without an interval (one seed) are not tested and not counted.

Why Holm: it bounds the family-wise error rate (the chance of any false agrees/disagrees) at α
under any dependence between the claims -- ours share arms (the full model is in most of them),
so their tests are correlated in ways we do not model -- and it is uniformly more powerful than
plain Bonferroni. Benjamini-Hochberg controls the false discovery rate instead, a weaker
promise that suits screening many effects, not a verdict table read claim by claim; Hochberg
and Šidák need independence or positive dependence, which shared arms do not guarantee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["ClaimResult", "compare_arms", "mde", "welch_df", "image_only_bootstrap",
           "two_level_bootstrap", "MIN_SEEDS", "RULES", "ADJUST_RULES", "verdict", "p_value",
           "holm", "adjusted_verdict", "capped_df", "BY_DESIGN", "TESTED", "forest_plot",
           "VERDICT_COLOURS"]

MIN_SEEDS = 3
ALPHA = 0.05
POWER = 0.8
RULES = (f"Δ = NME(A) − NME(B) in points, each arm's runs averaged over its seeds and the same "
         f"test images; 95 % interval Δ ± t·SE with SE² = seed variance of A / n_A + seed "
         f"variance of B / n_B + paired image variance / M (Welch–Satterthwaite degrees of "
         f"freedom, capped where the study's typical seed variance is known at the ν it "
         f"gives; sccnb.study.claims). Verdict: fewer than {MIN_SEEDS} seeds in an arm → "
         f"descriptive only; interval below 0 → agrees; above 0 → disagrees; otherwise below "
         f"resolution when the paper's |Δ| is under this comparison's minimum detectable effect "
         f"(α = {ALPHA}, power {POWER}), else inconclusive; a 1-seed claim whose paper |Δ| is "
         f"under the MDE even at the power plan's most seeds → below resolution by design "
         f"(sccnb.study.power).")
ADJUST_RULES = ("p: two-sided p-value of Δ (same t = Δ/SE and ν as the interval; the interval "
                "excludes 0 exactly when p < 0.05). p_holm: Holm–Bonferroni adjusted over the "
                "claim's family (family column; sccnb.study.claims.holm): every paper claim "
                "tested on this data source is one family, each probe of ours its own. "
                "verdict_adjusted: "
                "the same rules with p_holm < 0.05 in place of the interval; a raw agrees or "
                "disagrees that does not survive reads 'not significant after adjustment'.")
BY_DESIGN = "below resolution by design"
# verdicts that come from a test (an interval), as opposed to descriptive or by-design labels
TESTED = ("agrees", "disagrees", "below resolution", "inconclusive")


@dataclass(frozen=True)
class ClaimResult:
    """One comparison, in NME points (percent) unless noted."""

    delta: float  # Δ = NME(A) − NME(B)
    ci_low: float | None
    ci_high: float | None
    se: float | None
    df: float | None
    seeds_a: int
    seeds_b: int
    images: int
    seed_sd_a: float | None  # standard deviation of the per-run mean NMEs across seeds
    seed_sd_b: float | None
    image_sd: float  # standard deviation of the paired per-image differences
    mde: float | None  # minimum detectable |Δ| with these seeds and images
    verdict: str
    p: float | None = None  # two-sided p-value of Δ (None without an interval)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def welch_df(terms: Sequence[tuple[float, float]]) -> float:
    """Welch–Satterthwaite degrees of freedom of a sum of variance terms ``(v, df)``."""
    num = sum(v for v, _ in terms) ** 2
    den = sum(v * v / d for v, d in terms if d > 0 and v > 0)
    return float(num / den) if den > 0 else float("inf")


def _se_df(var_a: float, n_a: int, var_b: float, n_b: int, var_d: float, m: int
           ) -> tuple[float, float]:
    terms = [(var_a / n_a, n_a - 1), (var_b / n_b, n_b - 1), (var_d / m, m - 1)]
    return float(np.sqrt(sum(v for v, _ in terms))), welch_df(terms)


def capped_df(df: float, seed_var_ref: float, n_a: int, n_b: int, image_var: float, m: int
              ) -> float:
    """``min(df, ν_ref)``: ν_ref is the Welch–Satterthwaite ν of the same three terms with both
    arms' seed variance at the study's reference ``seed_var_ref`` (see :func:`compare_arms`)."""
    return min(df, _se_df(seed_var_ref, n_a, seed_var_ref, n_b, image_var, m)[1])


def mde(seed_var_a: float, seed_var_b: float, image_var: float, n_a: int, n_b: int, m: int,
        alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable effect: the smallest true |Δ| that a two-sided test at ``alpha`` finds
    with probability ``power``, given per-arm seed variances (of run-mean NMEs), the paired
    per-image variance, ``n_a``/``n_b`` seeds and ``m`` images:
    ``(t(1 − α/2, ν) + t(power, ν)) · SE``."""
    se, df = _se_df(seed_var_a, n_a, seed_var_b, n_b, image_var, m)
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se)


def verdict(low: float | None, high: float | None, seeds_a: int, seeds_b: int,
            paper_delta: float | None, mde_value: float | None, by_design: bool = False) -> str:
    """The verdict of :data:`RULES` for a claim "A beats B" (Δ = A − B < 0). ``by_design``: the
    power plan gave this claim one seed because its paper |Δ| is below the MDE even at the most
    seeds it allows; with fewer than :data:`MIN_SEEDS` seeds it then reads :data:`BY_DESIGN`."""
    if min(seeds_a, seeds_b) < MIN_SEEDS and by_design:
        return BY_DESIGN
    if min(seeds_a, seeds_b) < MIN_SEEDS:
        n = min(seeds_a, seeds_b)
        return f"{n} seed{'s' if n != 1 else ''}: descriptive only"
    if high is not None and high < 0:
        return "agrees"
    if low is not None and low > 0:
        return "disagrees"
    if paper_delta is not None and mde_value is not None and abs(paper_delta) < mde_value:
        return "below resolution"
    return "inconclusive"


def compare_arms(a: np.ndarray, b: np.ndarray, paper_delta: float | None = None,
                 level: float = 0.95, seed_var_ref: float | None = None) -> ClaimResult:
    """Compare arm A with arm B from their per-run, per-image NMEs in points.

    ``a``: ``(n_A, M)`` (one row per seed's run), ``b``: ``(n_B, M)``, the same ``M`` test images in
    the same order. With one seed in an arm its seed variance is unknown: the interval and the
    MDE are left out (None) and the verdict is descriptive only.

    ``seed_var_ref``: the study's seed variance of a typical arm (points², measured on many arms,
    e.g. :func:`sccnb.study.power.plan_noise`). When given, the degrees of freedom are capped at
    the Welch–Satterthwaite ν that this variance gives (:func:`capped_df`): with 3 seeds an arm's
    own seed variance has 2 degrees of freedom, and when it comes out small by chance, ν from the
    estimates comes out large exactly when t is inflated. At a 95 % level that hardly matters
    (5.1 % false alarms instead of 5 % in ``tests/test_claims.py``'s null simulation), but in the
    far tail that Holm's correction reads (α/20) the uncapped p-values are too small by about 2×,
    and 20 null claims give a family-wise error of about 12 % after adjustment instead of ≤ 5 %;
    with the cap it is within 5 %. The interval and the p-value use the same ν.
    """
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"arms were evaluated on different images ({a.shape[1]} vs "
                         f"{b.shape[1]})")
    n_a, n_b, m = a.shape[0], b.shape[0], a.shape[1]
    delta = float(a.mean() - b.mean())
    d = a.mean(0) - b.mean(0)
    var_d = float(d.var(ddof=1)) if m > 1 else 0.0
    if min(n_a, n_b) < 2:
        return ClaimResult(delta, None, None, None, None, n_a, n_b, m, None, None,
                           float(np.sqrt(var_d)), None,
                           verdict(None, None, n_a, n_b, paper_delta, None))
    var_a, var_b = float(a.mean(1).var(ddof=1)), float(b.mean(1).var(ddof=1))
    se, df = _se_df(var_a, n_a, var_b, n_b, var_d, m)
    if seed_var_ref is not None:
        df = capped_df(df, seed_var_ref, n_a, n_b, var_d, m)
    half = float(stats.t.ppf(0.5 + level / 2, df) * se)
    mde_value = mde(var_a, var_b, var_d, n_a, n_b, m)
    lo, hi = delta - half, delta + half
    return ClaimResult(delta, lo, hi, se, df, n_a, n_b, m, float(np.sqrt(var_a)),
                       float(np.sqrt(var_b)), float(np.sqrt(var_d)), mde_value,
                       verdict(lo, hi, n_a, n_b, paper_delta, mde_value),
                       p_value(delta, se, df))


def p_value(delta: float, se: float | None, df: float | None) -> float | None:
    """Two-sided p-value of ``delta`` with standard error ``se`` and ``df`` degrees of freedom
    (the statistic of the interval: a 95 % interval excludes 0 exactly when p < 0.05)."""
    if se is None or df is None or not np.isfinite(se):
        return None
    if se == 0:
        return 0.0 if delta != 0 else 1.0
    return float(2 * stats.t.sf(abs(delta) / se, df))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values, in the order given. ``None`` (an untested claim) stays
    ``None`` and does not count in the family. With the m tested p-values sorted ascending,
    ``p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) · p_(j))``; rejecting where ``p̃ < α`` bounds
    the chance of any false rejection in the family at α under any dependence."""
    tested = [(p, i) for i, p in enumerate(p_values)
              if p is not None and not (isinstance(p, float) and np.isnan(p))]
    out: list[float | None] = [None] * len(p_values)
    m, running = len(tested), 0.0
    for j, (p, i) in enumerate(sorted(tested)):
        running = max(running, min(1.0, (m - j) * float(p)))
        out[i] = running
    return out


def adjusted_verdict(raw: str, p_adjusted: float | None, delta: float,
                     paper_delta: float | None, mde_value: float | None,
                     alpha: float = ALPHA) -> str:
    """The verdict with the family-wise adjusted p in place of the interval. Labels that come
    from no test (descriptive only, below resolution by design) stay as they are; a raw agrees or
    disagrees whose adjusted p is not below ``alpha`` reads "not significant after adjustment"."""
    if raw not in TESTED or p_adjusted is None:
        return raw
    if p_adjusted < alpha:
        return "agrees" if delta < 0 else "disagrees"
    if raw in ("agrees", "disagrees"):
        return "not significant after adjustment"
    return raw


# --- the alternatives the simulation test compares against ----------------------------------
def image_only_bootstrap(a_run: np.ndarray, b_run: np.ndarray, n_boot: int = 1000,
                         level: float = 0.95, rng=None) -> tuple[float, float]:
    """Percentile interval of Δ from one run per arm, resampling test images only (paired): what
    the claims tables did before seeds were counted."""
    rng = np.random.default_rng(rng)
    d = np.asarray(a_run, float) - np.asarray(b_run, float)
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    means = d[idx].mean(1)
    return tuple(np.quantile(means, [0.5 - level / 2, 0.5 + level / 2]))


def two_level_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 1000, level: float = 0.95,
                        rng=None) -> tuple[float, float]:
    """Percentile interval of Δ resampling seeds within each arm, then images paired across arms.
    Kept for comparison: it under-covers with 3 seeds (see the module docstring)."""
    rng = np.random.default_rng(rng)
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    m = a.shape[1]
    sa = rng.integers(0, a.shape[0], size=(n_boot, a.shape[0]))
    sb = rng.integers(0, b.shape[0], size=(n_boot, b.shape[0]))
    img = rng.integers(0, m, size=(n_boot, m))
    out = np.empty(n_boot)
    for k in range(n_boot):
        ra = a[sa[k]].mean(0)
        rb = b[sb[k]].mean(0)
        out[k] = (ra - rb)[img[k]].mean()
    return tuple(np.quantile(out, [0.5 - level / 2, 0.5 + level / 2]))


# --- the verdict figure ----------------------------------------------------------------------
VERDICT_COLOURS = {"agrees": "#1a9850", "disagrees": "#d73027", "inconclusive": "#fdae61",
                   "below resolution": "#9e9ac8", BY_DESIGN: "#bdbdbd",
                   "descriptive only": "#969696"}


def _colour_key(v: str) -> str:
    return "descriptive only" if v.endswith("descriptive only") else v


def forest_plot(groups, title: str = ""):
    """One picture of the verdicts: a row per claim, grouped (e.g. by the paper's table). Each row
    shows our Δ with its 95 % interval (the dot and bar), the paper's Δ (a black diamond), the
    claim's MDE as a grey band around zero (what this setup cannot tell from no effect), and the
    raw verdict as the colour; the dot is filled where the verdict survives Holm's adjustment
    over its family (``verdict_adjusted`` equal to ``verdict``) and open where it does not.

    ``groups``: ``{group title: claims frame}`` with the columns of
    :func:`sccnb.study.common.claim_rows`. Returns a ``matplotlib.figure.Figure`` (no pyplot
    state is touched)."""
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows: list[tuple[str, object]] = []  # ("group", title) or ("claim", row)
    for name, df in groups.items():
        if len(df):
            rows.append(("group", name))
            rows += [("claim", r) for _, r in df.iterrows()]
    height = 0.9 + 0.24 * len(rows)
    fig = Figure(figsize=(8.6, max(2.5, height)), layout="constrained")
    ax = fig.subplots()

    def num(v) -> float | None:
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)

    # the x range follows the point estimates (ours and the paper's), not the widest interval:
    # one arm with a failed seed must not squeeze every other claim into a few pixels; bars
    # and bands that leave the range end in an arrow
    points = [v for kind, r in rows if kind == "claim"
              for v in (num(r["ours_delta"]), num(r.get("paper_delta"))) if v is not None]
    lo_x, hi_x = (min(points + [0.0]), max(points + [0.0])) if points else (-1.0, 1.0)
    pad = 0.12 * (hi_x - lo_x or 1.0) + 0.1
    lo_x, hi_x = lo_x - pad, hi_x + pad
    y = len(rows)
    labels, ticks = [], []
    for kind, item in rows:
        y -= 1
        if kind == "group":
            ax.axhline(y, color="0.85", lw=0.6)
            ax.text(0.0, y, f"  {item}", transform=ax.get_yaxis_transform(), fontsize=8,
                    fontweight="bold", va="center", ha="left")
            continue
        r = item
        colour = VERDICT_COLOURS.get(_colour_key(str(r["verdict"])), "0.5")
        mde = num(r.get("mde"))
        if mde is not None:
            ax.add_patch(_band(y, max(lo_x, -mde), min(hi_x, mde)))
        lo, hi = num(r.get("ci95_low")), num(r.get("ci95_high"))
        if lo is not None and hi is not None:
            ax.plot([max(lo, lo_x), min(hi, hi_x)], [y, y], color=colour, lw=2.0,
                    solid_capstyle="butt")
            for end, edge, mark in ((lo, lo_x, "<"), (hi, hi_x, ">")):
                if (end < edge) if mark == "<" else (end > edge):
                    ax.plot(edge, y, mark, color=colour, ms=5)
        survives = str(r.get("verdict_adjusted", r["verdict"])) == str(r["verdict"])
        ax.plot(r["ours_delta"], y, "o", ms=6, color=colour,
                markerfacecolor=colour if survives else "white", markeredgewidth=1.5)
        paper_delta = num(r.get("paper_delta"))
        if paper_delta is not None:
            ax.plot(paper_delta, y, "D", ms=4.5, color="black")
        labels.append(f"{r['claim']}  [{r['seeds']}]")
        ticks.append(y)
    ax.set_xlim(lo_x, hi_x)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("Δ NME = NME(better) − NME(worse), points (negative: the claim holds)",
                  fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    handles = [Line2D([], [], marker="o", ls="-", color=c, label=v, ms=5)
               for v, c in VERDICT_COLOURS.items()]
    handles += [Line2D([], [], marker="o", ls="", color="0.3", markerfacecolor="white",
                       label="open: not significant after Holm"),
                Line2D([], [], marker="D", ls="", color="black", ms=4, label="paper's Δ"),
                Patch(color="0.88", label="± MDE (cannot tell from 0)")]
    ax.legend(handles=handles, fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.06),
              ncol=5, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def _band(y: float, left: float, right: float):
    from matplotlib.patches import Rectangle

    return Rectangle((left, y - 0.38), right - left, 0.76, color="0.88", lw=0, zorder=0)
